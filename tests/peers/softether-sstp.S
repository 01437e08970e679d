/*
 * SSTP for Debian 12's SoftEther VPN Server
 * (softether-vpnserver 5.01.9674+git20200806+8181039+dfsg2-2+b2).
 *
 * A client that sends "SSTP_DUPLEX_POST" reaches, in Protocol.c,
 *     ProtoHandleConnection(server->Proto, s, "SSTP");
 * which looks the SSTP container up by name (Proto.c, 5.01):
 *     const PROTO_CONTAINER *container = NULL;
 *     for (i = 0; i < LIST_NUM(proto->Containers); ++i) {
 *         const PROTO_CONTAINER *tmp = LIST_DATA(proto->Containers, i);
 *         if (StrCmp(tmp->Name, protocol) == 0) {
 *             impl = container->Impl;        <- container is NULL here
 *             break;
 *         }
 *     }
 *     if (container == NULL) return false;
 * The match dereferences a NULL pointer, so GCC took that branch as
 * unreachable: the loop can only end with container == NULL, and the
 * function returns false for every SSTP client, which waits until it times
 * out.  Upstream fixed it in 5.02 (commit 5611156c, "container = tmp").
 *
 * This is that fix, in place of the loop's 65 bytes at 0x3a00f..0x3a04f
 * (file offset = address in this binary).  Registers at 0x3a00f, as the
 * compiler left them: r15 = proto, rbp = protocol, rbx = sock (still
 * needed: the code after the lookup reads sock->CipherName and others
 * through it, so the index lives in r12, not in rbx as in the original).
 * On a match the container goes, in rax, to 0x3a0a9: the code that takes
 * ProtoDetect()'s result ("mov %rax,%r12; test %rax,%rax; ...") and goes
 * on to container->Options and container->Impl, exactly as the fixed
 * source does.  r12, r13 and r14 are written there before any use.  No
 * match: 0x3a050, "return false", as before.
 *
 * LIST (Mayaqua/Memory.h): num_item is the UINT at offset 8, the item
 * array p at offset 16; PROTO (Cedar/Proto.h): Containers at offset 8;
 * PROTO_CONTAINER: Name at offset 0.  StrCmp is at 0x16bbd0.
 *
 * tests/peers/softether.sh assembles this (as, then objcopy to raw bytes;
 * every branch is relative to `fix`, so no linker is needed), and writes
 * it only into a copy of the binary whose sha256 is the one above, and
 * checks the sha256 of the result.
 */
	.text
	.globl	fix
fix:
	.set	at, 0x3a00f
	.set	no_match, fix + (0x3a050 - at)
	.set	have_container, fix + (0x3a0a9 - at)
	.set	StrCmp, fix + (0x16bbd0 - at)

	mov	0x8(%r15), %r13		/* list = proto->Containers */
	xor	%r12d, %r12d		/* i = 0 */
	test	%r13, %r13
	je	no_match
next:
	cmp	0x8(%r13), %r12d	/* i < list->num_item */
	jae	no_match
	mov	0x10(%r13), %rax	/* list->p */
	mov	(%rax,%r12,8), %r14	/* tmp = list->p[i] */
	mov	(%r14), %rdi		/* tmp->Name */
	mov	%rbp, %rsi		/* protocol */
	call	StrCmp
	test	%eax, %eax
	je	found
	add	$1, %r12d
	jmp	next
found:
	mov	%r14, %rax		/* container = tmp */
	jmp	have_container
	/* the rest of the old loop: never reached, trap if it were */
	.fill	0x3a050 - at - (. - fix), 1, 0xcc
