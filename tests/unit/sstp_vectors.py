#!/usr/bin/python3
"""sstp_vectors: the SSTP crypto binding (MS-SSTP 3.2.5.2), written apart
from src/sstp/sstp_proto.c with nothing but hashlib and hmac, so that
tests/unit/test_sstp.c can compare the two.

    sstp_vectors.py --hash sha1|sha256 --nonce HEX32 --cert HEX
                    [--send HEX16 --recv HEX16]

Without --send/--recv the client's MS-CHAPv2 master keys are derived here
from the MasterKey printed in RFC 3079 3.5.3 (User "User", password
"clientPass"), by GetAsymmetricStartKey of RFC 3079 3.4 for 128-bit keys.
Prints one "name=hex" line each for send, recv, hlak, cmk, mac (the
Compound MAC, unpadded) and packet (the whole 112-byte Call Connected).
"""
import argparse
import hashlib
import hmac
import struct
import sys

RFC3079_MASTER_KEY = "FDECE3717A8C838CB388E527AE3CDD31"
MAGIC2 = (b"On the client side, this is the send key; "
          b"on the server side, it is the receive key.")
MAGIC3 = (b"On the client side, this is the receive key; "
          b"on the server side, it is the send key.")
SEED = b"SSTP inner method derived CMK"
HASHES = {"sha1": (0x01, hashlib.sha1), "sha256": (0x02, hashlib.sha256)}


def start_key(master_key, magic):
    """RFC 3079 3.4 GetAsymmetricStartKey, 16 octets."""
    assert len(magic) == 84
    d = hashlib.sha1(master_key + b"\x00" * 40 + magic + b"\xf2" * 40).digest()
    return d[:16]


def call_connected(hash_name, nonce, cert, hlak):
    code, h = HASHES[hash_name]
    size = h().digest_size
    assert len(nonce) == 32 and len(cert) == size and len(hlak) == 32
    # CMK = HMAC(HLAK, seed | LEN (16 bits, little endian) | 0x01)
    cmk = hmac.new(hlak, SEED + struct.pack("<H", size) + b"\x01", h).digest()
    attr_value = (b"\x00" * 3 + bytes([code]) + nonce + cert.ljust(32, b"\x00"))
    attr = struct.pack(">BBH", 0, 0x03, 4 + len(attr_value) + 32) + attr_value
    body = struct.pack(">HH", 0x0004, 1) + attr
    header = struct.pack(">BBH", 0x10, 0x01, 4 + len(body) + 32)
    zeroed = header + body + b"\x00" * 32
    assert len(zeroed) == 112
    mac = hmac.new(cmk, zeroed, h).digest()
    return cmk, mac, header + body + mac.ljust(32, b"\x00")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hash", choices=sorted(HASHES), required=True)
    ap.add_argument("--nonce", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--send")
    ap.add_argument("--recv")
    a = ap.parse_args()
    if (a.send is None) != (a.recv is None):
        ap.error("--send and --recv go together")
    if a.send is None:
        mk = bytes.fromhex(RFC3079_MASTER_KEY)
        send, recv = start_key(mk, MAGIC2), start_key(mk, MAGIC3)
    else:
        send, recv = bytes.fromhex(a.send), bytes.fromhex(a.recv)
    if len(send) != 16 or len(recv) != 16:
        ap.error("keys are 16 bytes")
    hlak = send + recv  # the client's HLAK for MS-CHAPv2
    cmk, mac, pkt = call_connected(a.hash, bytes.fromhex(a.nonce), bytes.fromhex(a.cert), hlak)
    for name, v in (("send", send), ("recv", recv), ("hlak", hlak), ("cmk", cmk),
                    ("mac", mac), ("packet", pkt)):
        print("%s=%s" % (name, v.hex()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
