/* Unit tests: tunnel/ws/wstan against captures of the real wstan 0.5.0.
 *
 * The vectors were recorded on loopback: a real wstan 0.5.0 client talked
 * to a real wstan 0.5.0 server through a small recorder that logged the
 * upgrade heads and every WebSocket message (unmasked).  Their plaintexts
 * were then found by an independent decoder (Python's `cryptography`,
 * written from wstan's doc/protocol.md), so nothing below is derived from
 * sluice's own code.  Five sessions: default mode (two requests on one
 * tunnel), compatible mode, a password key, a refused target, UDP.
 * Compatible mode was recorded with wstan 0.4's cookie name rule (0.5.0's
 * -z crashes at start-up; see docs/wstan.md).
 *
 * Checked here:
 *   - sluice's server side accepts each captured upgrade request (nonce
 *     from Sec-WebSocket-Key or the cookie, request from the URI) and opens
 *     every message, both directions, to the recorded plaintext;
 *   - sluice's builders, given those plaintexts and the same nonces, put
 *     exactly wstan's bytes on the wire: the URI request, the REQ of a
 *     reused tunnel, RST with its padding, DAT;
 *   - an independent re-implementation here (raw OpenSSL) accepts what
 *     sluice builds for addresses the captures lack (IPv6, names, UDP);
 *   - keys (base64 by Python's rules, or a scrypt password), the URI,
 *     cookies, and malformed or tampered input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/crypto.h"
#include "core/encoding.h"
#include "tunnel/ws/ws.h"
#include "tunnel/ws/wstan.h"
#include "wire/http_proto.h"

typedef struct vmsg {
	int c2s;           /* client to server */
	const char *wire;  /* hex: the message as it travelled */
	const char *plain; /* hex: command and body, decrypted, without the MAC */
} vmsg_t;

typedef struct capture {
	const char *key;
	const char *req_head, *resp_head;
	const char *uri_plain; /* hex: the request in the URI, decrypted */
	const vmsg_t *msgs;
	size_t nmsgs;
} capture_t;

/* ---- captured from wstan 0.5.0 (see above) ---- */

/* clang-format off */
static const vmsg_t default_msgs[] = {
	{0,
	    "a4f5d00dde54c00712b4fa190d62d8638e9f6a267ec9cd5a5145d1d54398ce84c74387ec3c0b5d09bf985fe00c34dcd7"
	    "ed1f628d2740de4b2842a3e060f518e9a97ceb2821e2b20a33ecfac495c2c17b2c398bd93b4413952cef9aa53bf0e6c1"
	    "bd1fbee091d7121046b160c776abdea48dad1bdcb98787bdcea1cc4734ee330d2838c02f9e64d4d3f6156db1e3e0e581"
	    "d21a6c636f5887c0f187817f89e49848d8b9b2cc728f5edcb9f87188d2db43236b6c9aec31eba93b487b6bee449b9836"
	    "edccaaf41df5",
	    "01485454502f312e3020323030204f4b0d0a5365727665723a2053696d706c65485454502f302e3620507974686f6e2f"
	    "332e31312e370d0a446174653a2053756e2c203232204e6f7620323032362030303a35323a333820474d540d0a436f6e"
	    "74656e742d747970653a20746578742f68746d6c0d0a436f6e74656e742d4c656e6774683a2031320d0a4c6173742d4d"
	    "6f6469666965643a2053756e2c203232204e6f7620323032362030303a35323a313920474d540d0a0d0a68656c6c6f2d"
	    "777374616e0a"},
	{1,
	    "e26185d673dad6cdf623334f8c1c8272d4c58433a1e2aaf4a641f35ff5878b15d606e5ec81048994e1ada8976be2f9e3"
	    "1f6d100348c157d9c88cf004791e8ae7ac45e9df8f5661df448230602889fa3224c23da719671dc666af04f28a9149dc"
	    "369c0bcd451de07f604953f8f782c657e9881cac3a7dafbfb71b635d9ea0073600796a182b3b4a73da1f728a6ec9d574"
	    "ead898142b7bcdbf3e229bc7b3620484378cbd334ea8033d735ae6dacd05a1b769e93cbae9a2308c0039a80935b02610"
	    "b1f0abfde93c0c70f70ae9aefe0ee0f3c70ca26790f6437aa487f279cd1a20fba717b465b5f0a472c6ecc3a6df04a0f4"
	    "546e1a5e7d3844c04947a3bac1a9e53337354eddc5cf32fa6bce32a415b8e191601281ec69bed7e04935a4d337f34d92"
	    "b9decc78afec303da16cb8704f6600566be92db58c7c50c883527f0fd121a6507fe51d4da68c3d522e7d9a657a4ce133"
	    "bec6b105317096c88a5829298d00cb10cb9402c61d07e7d1b775f3e0717bdefc72de94da5a2d55e2d06937353d37ae6e"
	    "497508e813e22b1ff795a978c57b5cc13d4a180a23b3e7f5f09271345cd7cbe45c4f454b895b8caafd93aa0e04ec6b9f"
	    "861118da9ecb464e2cfe3a5137345e9af3911e5c56261a579232b97877c648936686350e23f643687de80e31d3e9f495"
	    "4b4ee103ccd6f485d3e45a9f37c431c383f2b7144bc09bb40b3f3f9484",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "20202020202020202020202020202020202020"},
	{0,
	    "38727f289d9ac913944916567a89c1d6e37c855a767880dc42a84e250cc2ba4c1a4b6af68859771e4f997d51c3446820"
	    "189b30bc16f7e3122afbfe2f62db085027539e84eb593ace00e27de4730cb778167c85bc5b4a8224d1a1cf6cbe0e7e8f"
	    "9c08eaa64583bc04c3f8a2ebdb98e7a7bc6118d6c05c2666032c5d2899631d9f1b0d55f9aac8f4235f7e24f8cde51a9b"
	    "4406c5841fabf0ae7bef174567d51f2e8de8abc34ab473d5bf6dd905e80e18bee7fc7a59c537fb9b3f370b7f226c2f3a"
	    "2a776ea7ed606530182b61",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "20"},
	{1,
	    "fa666876e64931af8e876292a827005edb2f4da9e37fcd7e861e7aa487a009f49ff9c352749d1d1ca5004f5d01e78e38"
	    "21d6fa188de26cea0bab54f049f65f423b7f0bfa97d07da28462ab70a8b7f778cf2a0a71060a063f10559c1bfe718df3"
	    "5a6a76c2159f4b22c8b6ec3afea382fc7fe19877",
	    "0041dac08f35b0776600017f00000146a0474554202f696e6465782e68746d6c20485454502f312e310d0a486f73743a"
	    "203132372e302e302e313a31383038300d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570"
	    "743a202a2f2a0d0a0d0a"},
	{0,
	    "25ffe69c2e430a1ae0890673e6177f89f4b55b81cb75af0eb9d057b42940d03146473460c55831f1d0368a6893d4b96e"
	    "fd00b70d7065f4f77a90e92017641974b0a1dc12f50ab25538e80d73a375af60a99fff36e3f16c1a28e6376fc6aef931"
	    "acc82d0a2d85feab04c88aebdc64836d355d9babfb43c62be647587bcc16eb7bfdb3da25cfd8143d51def45448e7feac"
	    "1873720479449c1e07033a31c8f1c4b459684ac43a5068e6b9933bc6259bcdca98ba6c7dab0bb655225b",
	    "01485454502f312e3020323030204f4b0d0a5365727665723a2053696d706c65485454502f302e3620507974686f6e2f"
	    "332e31312e370d0a446174653a2053756e2c203232204e6f7620323032362030303a35323a333820474d540d0a436f6e"
	    "74656e742d747970653a20746578742f68746d6c0d0a436f6e74656e742d4c656e6774683a2031320d0a4c6173742d4d"
	    "6f6469666965643a2053756e2c203232204e6f7620323032362030303a35323a313920474d540d0a0d0a"},
	{0,
	    "e4b6f38470b60712689f08ee5a",
	    "0168656c6c6f2d777374616e0a"},
	{1,
	    "103b53ddfa6b517bab4b915e50620bf35ce636d54ec5ea3624e5892eb078185beaad560365aac0fa04e5d9790a6bfd33"
	    "7a01c44f01258499e1b8f09679669f9a95aa1256222c010e2100e56741bf2e04af8e84a46ea366991bbdf352e467c4c6"
	    "d537ec908fe1d16c44b236012b4875e202600417e166b90e645f94f3b39315213df5300c98255d399bd838c74895",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020"},
	{0,
	    "da607dcb863b4eaef2fe97e12c033716aa838c6a75fe0df7d42fcccfa9a784525724ddba7cae1459b95869a9023bf52f"
	    "3dae6508b309419a5ba5ae1071b8e499f4e3cc56ee0e0a8f170c09e3a0c736061b51533ac02d6e340c91dd2d89b294f3"
	    "5730b056a14c9c723c73e65fc19e8723b54ad9909282495ef96bb0c4d595f3fab562e29491da353bd8d51edbc4a1e9ba"
	    "d1e1a343d25f602f31ea0d587e0eb1eb1b9160fb9a2b0569508e56dda878455cba0c33700560fb7a28c136d2ffabb581"
	    "db7be73b0b652902034ac56e85",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020"},
};

static const capture_t cap_default = {
	.key = "QsTpzrTt6h5A056TtxBetw==",
	.req_head = "GET /FhswyHp-uapOWp-0AV2lyw-Vyp2bBRPH-h5mPp5YuVuBbrZjeQssnwW1DTPFehQTG6IVB-l967FZoy-KJqJwCnnXRUMD2PAkf9XwWFj_FB7nqZeS2vZoScRRqZnUZvrKHjR88gzBooZI5QXhXaWj1mK_e3I= HTTP/1.1\r\n"
	    "Host: 127.0.0.1:18767\r\n"
	    "Sec-WebSocket-Key: +I57UYbCy6rE2SsXXF/n8A==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Pragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: Upgrade\r\n"
	    "Upgrade: WebSocket\r\n"
	    "\r\n",
	.resp_head = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: WebSocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: LkG5pnrsnlTBmwqvQxfCri+xM8A=\r\n"
	    "\r\n",
	.uri_plain = "0041dac08f359ada2f00017f00000146a0474554202f696e6465782e68746d6c20485454502f312e310d0a486f73743a"
	    "203132372e302e302e313a31383038300d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570"
	    "743a202a2f2a0d0a0d0a",
	.msgs = default_msgs,
	.nmsgs = 8,
};

static const vmsg_t compat_msgs[] = {
	{0,
	    "c4fee944cd0e20ccb47d8d7a70ec04811eb1cdd7cbfafe7bb60bfd95bc400938818a5a9f1f77d109522c1a4293ef1add"
	    "c9875efb9d557081ab92432aaa52b256070678376433e168fb9e5c5c79637c909b5d77475d0397a9d38958b743119d55"
	    "adb5bd863ba51cad458acc6bebbec8d8408dab67ab7891beb5e1f93c592cad7ebafd4c53a5fef2f61c5ab0e4c6dba2c7"
	    "98c013cbb135f49e6a8637889b97e86487323f4900833b9308958f7fd13c94e5ea31d8a2eb36f35ce9d020b89084c333"
	    "bfc0a602a0ba",
	    "01485454502f312e3020323030204f4b0d0a5365727665723a2053696d706c65485454502f302e3620507974686f6e2f"
	    "332e31312e370d0a446174653a2053756e2c203232204e6f7620323032362030303a35323a343020474d540d0a436f6e"
	    "74656e742d747970653a20746578742f68746d6c0d0a436f6e74656e742d4c656e6774683a2031320d0a4c6173742d4d"
	    "6f6469666965643a2053756e2c203232204e6f7620323032362030303a35323a313920474d540d0a0d0a68656c6c6f2d"
	    "777374616e0a"},
	{0,
	    "2f2e24b3f3675e037097370141c7f47f6e83cda8e9d31a47f0245be88738bbda6d99b855b2e9b40580d7987b4bde5a6c"
	    "048d3449eddfe28add7f804a1cc540fa0d88d55b211a123266d658187a82fb3b83244e2604aee3a6c77bcb593a97eb14"
	    "229e37808f530e116163ef1c95f690b3d78699ebd440c7130d2691d9a4c529c230161e87144860cfdcf322b66ddace24"
	    "8cdffca8b6127ca05c1d1841a35df18cc33920d2d5653b08f8f031fbaf6bba90382a621a6819d1ba4fcf7a505cbeeb4c"
	    "a85692f0bf47ddfe08308fd7fd63f6185d4eabc2a63709331ec0f99145f2c76158e15efe12dba2484a2326f2067b536b"
	    "bd05a222f3022e544ad26679e7cb5d70f6558df9ef10a234604449c7931a59d95567d634a3e6525ac46c2a97d93b5a62"
	    "42a096e56bc8f707f6f7f02147a65b04d30ec6c9ad72e4e9b40cbade4a42385d5a574c21dab13b1dfc0fe462a99a9ab3"
	    "4344a51c9321e1b5b36aca7bd2ec6e7b9c337d1ff8b8426cc289e138e55ca0f860af5d591f1c754e14d18511c6ee00be"
	    "17042f010724c508d571fe1693f059bc6a4bd9d75cdd3dc3f6755c1bc190458b0576559c4ccf4bec7d565b0130eb862b"
	    "9b87ccc79f54de8fc331c5ec5325af81537ee8ac1c018d0513acd581",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020"},
	{1,
	    "9d9a48aca55473c18cb951948f45affcfb0005b674c2187e656840eb8cb211fe896b631f5327565e6c38758b031b503b"
	    "4ef66ab60faef65341134d121b3d59e886a9778018bd170497341899135dc42690e17d74b698ef9acb789c1dfca83c40"
	    "d0e705d24fdfaaf6b1bb60d89948baebcea228dcaac9c13e08226ad559c8f53aa63d1113e4",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020"},
};

static const capture_t cap_compat = {
	.key = "QsTpzrTt6h5A056TtxBetw==",
	.req_head = "GET /AcWI1pu5IJ5RLh6ltqTBWT5SDdvopkrP-2fNTrW73kPlpgiV3Km4kIBUNJSx9pTg__6MPNN1jRtnH_l7kPAfH08tzEBoLFLki7J8XiwV4ParR3gu5FZG9pmQsuXKUpLsx90cgbWJlTBq_TqgQRmYfHYcrUQ= HTTP/1.1\r\n"
	    "Host: 127.0.0.1:18767\r\n"
	    "Sec-WebSocket-Key: wOjN0WUN/QOt3YT4eDd/Fw==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Pragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: Upgrade\r\n"
	    "Upgrade: WebSocket\r\n"
	    "Cookie: _X=3DRdpRVhN8wK/gd+5gJNKQ==\r\n"
	    "\r\n",
	.resp_head = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: WebSocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: +84k678m83j/XI0BJQgpf5dcTLE=\r\n"
	    "\r\n",
	.uri_plain = "0041dac08f363a601500017f00000146a0474554202f696e6465782e68746d6c20485454502f312e310d0a486f73743a"
	    "203132372e302e302e313a31383038300d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570"
	    "743a202a2f2a0d0a0d0a",
	.msgs = compat_msgs,
	.nmsgs = 3,
};

static const vmsg_t password_msgs[] = {
	{0,
	    "25864435c713024cf56e94ca88783f3265f06ffcc2ad043fdbcde62e86ea88c128d9e9140ae4516728505753c91c231d"
	    "ab90a6e63ccf68bc11bf287c00966ea8b9349d0f4f5c5ab63f692f2cab5bb8c8f8c25a8031c0f64e0dee93dff9b0880b"
	    "6719403d2bfed15f4c942e383cd040b6fffac3728daad8d55ed4f1c62f3c41cd6aae107133a00ee26eabab885f59abb9"
	    "56284ba5f2d1265db45031ffed10d80d4c5d89394bd46b89c9cdbacaa5f5fa620871ec5b8945b0adcab8b39a3ab36af9"
	    "93a3a162a541",
	    "01485454502f312e3020323030204f4b0d0a5365727665723a2053696d706c65485454502f302e3620507974686f6e2f"
	    "332e31312e370d0a446174653a2053756e2c203232204e6f7620323032362030303a35323a343320474d540d0a436f6e"
	    "74656e742d747970653a20746578742f68746d6c0d0a436f6e74656e742d4c656e6774683a2031320d0a4c6173742d4d"
	    "6f6469666965643a2053756e2c203232204e6f7620323032362030303a35323a313920474d540d0a0d0a68656c6c6f2d"
	    "777374616e0a"},
	{0,
	    "7bedabc4d855410265a33332c0245b5cc7677d042d9b289f7a8c2e259ac2f76c9079ee1db97d77a0fb4e8680a1a999a1"
	    "a965f9e85708285aeb6317380eb1e81da42f8a6828cf954f2be8e43874bfcd4612245b2b4075696194a9c493dacf4a34"
	    "7a5a45d98f61585bb23c36b31b9a4c39b801b98e3399fe523881de3b0b8787b3ccdf8cd3c84ec46b814077d118007cd4"
	    "90d4ebcadfd001f4d6c4c051059b3a837ca9295c53a807ff7a2805c4f7ab27f52816f4a5a81c615fd07760e3e079f8f6"
	    "48cc7bd205c54dedb29093877dd198acc5f52193f490d502e2719f3789464ae0210ce1e24226fbd0b9f4e5cafaa90553"
	    "755582d7a42346601ee31e821a57910f65833136a498d6aba633ce5b72b7930354ec3134be85101718c2a06a2f6b0304"
	    "3162f96fa1f2b6d7fa053cb4c74a62d4ac2d83717a18ec7704d5a6cc13e1a9b69545cb74b48c98881fff23fcc3836de3"
	    "60ae5e6e6a8445d25d73773786c5ba8c5b2602b3e3fed09e29f03a9f6484ac10aa08f48fd53f9a26eace937c4f28e5a2"
	    "47349ba1896827abf112dc04bbf1c2e7e5a102b65d2bfe00109e307a7686dd41f95b7d53eb55559ea9af8d26109a66c3"
	    "3fba692b7d07947d3531db47fd37599db1ecefbf7dbf17e04cfd825bd16a0b2f17af56d93909ed5e551b9a4dd07fa741"
	    "8ac686ad04ce0387d5267fb5d5",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020"},
};

static const capture_t cap_password = {
	.key = "correct horse battery staple",
	.req_head = "GET /cdRhp2XyFRAgD1c7nme0HEu_3CugRIYYJObEllGqgWy4DAuSEkWliRK-pnEdyfanyP3ib1otco3LaWoRv2qUROyTuGZlx1h3yyA30IBVagLvnZqgVyy4fJ_u4A8iR8GiVslObsRIZFIYBkzP_oxBNlxDSnY= HTTP/1.1\r\n"
	    "Host: 127.0.0.1:18767\r\n"
	    "Sec-WebSocket-Key: tlu3TWP4UHSigZu0KxnYIw==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Pragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: Upgrade\r\n"
	    "Upgrade: WebSocket\r\n"
	    "\r\n",
	.resp_head = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: WebSocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: S/gRkRVK6Lvv1iKX8x1GzrrDSik=\r\n"
	    "\r\n",
	.uri_plain = "0041dac08f36d8723d00017f00000146a0474554202f696e6465782e68746d6c20485454502f312e310d0a486f73743a"
	    "203132372e302e302e313a31383038300d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570"
	    "743a202a2f2a0d0a0d0a",
	.msgs = password_msgs,
	.nmsgs = 2,
};

static const vmsg_t refused_msgs[] = {
	{0,
	    "3293711b975061cd70719a293f87deebe80f18bc70c1ac5279be9f0e5f8669e66d5a5881fcacd7323d0132356068b9dc"
	    "26c97267dc77cdfdea071cbc450337c520852f7374d84f3aa5e8f4cc4a5f627ccd6f8f8a298a049de90774686227047f"
	    "f29b10ead1208f23f8a9d9b1e282cfc4bc411b2bdd0af1a840e6df28990b0bc5193b840b726252b91ed8f1d193652ec1"
	    "17f540956c4f32158980b55009c7e390509ee17da4dd6ddb48289695c93810a41594949bf81b5d2665ba6ad9dd5f7cef"
	    "825fdee5fcb6f6a61655bb77c6ed21eb1aa2457bee0281b578c33222d015dfae7a426124904b1496d41f02cdb8f32a54"
	    "9194b0844f1e377e7d02b98bd956afa9bb192ca91379e91ff44026ff16505b5115b134403392c6344759a26ffc97a5fb"
	    "c89a6f78a9ce230ce470659fc41189027737140ff77bb80396d6104eea9d260b16e1e72ee7b71ec5af374ecb6e8d0598"
	    "2d2a85e8dd9019d830e3bf97b170da5c18d08cf98970863ecec8fbdd4be75bf78798c5c54d2698a301fcd603debf98f2"
	    "7b08c890837d9857fe40af3450bb0ad6996da08f214c5a587a0317bbd9a13425a277e1121fc2fbcf04b297008f469c47"
	    "283f73",
	    "0263616e277420636f6e6e65637420746f203132372e302e302e313a31e298855b4572726e6f203131315d20436f6e6e"
	    "6563742063616c6c206661696c65642028273132372e302e302e31272c20312920202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "2020202020202020202020202020202020202020202020202020202020202020202020202020202020"},
	{1,
	    "1d688be79c28543a52c5c77c729c8fb8b3f48cf0d35b63ece67cdabfad015f8a08431b5fdaf680f71b4d418c7e6885c0"
	    "5b8bf5caef22bb005fd71e26ba3098a7f08f5923275fe5e1f04c95f898c5f13cb113abb611cbe9f4dbacb0d85eb46992"
	    "e9ab6be0e9111d63841c1a7c97e6de2710fb1873ed6db24380d86f2822bee23420f3d2e937415d636d1a52f85ac89221"
	    "ea3fb9882e78f9c429330c4112a9e2cb3fcd322ab01bf36b1452b734ce60be5b229108e0da8e5a966d42d327ad4f7ad5"
	    "fdd82f2f29d6b1ff1270b4b9f73efe5ccd7479fbe28279ad7477c94dfac99f47d9b3c0b1960529967e37006abe241000"
	    "2e75cf32287c625e1e387478f560251c0b5e0e4870db2857ce59f4d7ea7f76b448e2559945d518f5f47b254a22651081"
	    "e7887a2b6509df622aa7c1088a9a2887056652bebf133e094db4d161340bdab26e8be110690226462ba463ee951053e7"
	    "e57abfcbc4ea318d6cdccc176170f13edb60bc61b2a5c1a63bca53be7cad558e298eea7eca753311ac",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "20202020202020202020202020202020202020202020202020202020202020"},
};

static const capture_t cap_refused = {
	.key = "QsTpzrTt6h5A056TtxBetw==",
	.req_head = "GET /6tf_soUu5kakjyMAiF8lMrcUG29KN4E12N53afFSxbEH8V8Tdc6IoGLr8P3KuB7dl2hehzHfPnZ__Lb1k-q5CUi3WzBJPMDXHb5QAX2vSYSSIE5ViZs6e_uQyWu1RuN5twior_3g HTTP/1.1\r\n"
	    "Host: 127.0.0.1:18767\r\n"
	    "Sec-WebSocket-Key: zX95cy0IrAo/pCn6ilSYtA==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Pragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: Upgrade\r\n"
	    "Upgrade: WebSocket\r\n"
	    "\r\n",
	.resp_head = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: WebSocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: eYu3LcEqixAjDqIKPRo7mgV++7c=\r\n"
	    "\r\n",
	.uri_plain = "0041dac08fa4fcfad100017f0000010001474554202f20485454502f312e310d0a486f73743a203132372e302e302e31"
	    "3a310d0a557365722d4167656e743a206375726c2f372e38382e310d0a4163636570743a202a2f2a0d0a0d0a",
	.msgs = refused_msgs,
	.nmsgs = 2,
};

static const vmsg_t udp_msgs[] = {
	{0,
	    "40ec0cfffdc46ac70d0d291657a5b09bc34fb6",
	    "0300017f00000146b36563686f3a70696e6730"},
	{1,
	    "8f1080dd1d8df2a87314cc8c409a",
	    "0300017f00000146b370696e6731"},
	{0,
	    "7214886389f7b591b6669c61c6ece7ba467389",
	    "0300017f00000146b36563686f3a70696e6731"},
	{1,
	    "4c5f9ad1e5b07a79189f138e2b53",
	    "0300017f00000146b370696e6732"},
	{0,
	    "e932e48ce7cb812f6c19eb95d090e62d577d6c",
	    "0300017f00000146b36563686f3a70696e6732"},
	{1,
	    "657f6edc22f913621dff73ee167d40d8d76c478b81b3c644e5446c2363405e7e25ecea7a89edbfffcd542ef55c47e13b"
	    "3865276eb542420ba1e98f4537bcbcc40c9c658cac3f509bacbb42eec7b2957b2c2db06c41787fcbcafcf04cf916e6cd"
	    "db3b4e0e5fe7aee92aa9f274bee15f4692b0d9ee1e729ad4a2adf280eb3bd905e2484f9469f07fe563068b6ab1c3b333"
	    "3fcc19aa73466b76084c648fdfc95b3bf5f74218e9ba9fa19f3a51d6f3c2605910542720e99319602a612760b1d6bf56"
	    "6508ba8d9476e1b81d17694ae9804ced900d53cb4a0c4f5c92fd0844697809674fa1a93bee7e73f4af1e4b4b7ce64ca6"
	    "8e94ba78827a7d30dcd683d3d98fb47c746a8eacc5747d23cb00273d4ed4230a4718f76e3e770c7a6bd3f9fc6e66d714"
	    "a3c1dcd96d47e2bfaa74078fe273d9ba7f32b1413f3df96a0daf24a6a2386c24938ac89e2a7539baa2cd3c36d21ac164"
	    "049cabdddfe9685348a998709fc56df0eeeff408935fa319be4d989058075d095b90de9f7998b6e5224cd2883fa3b009"
	    "f766dbcf287fb1fe14",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "2020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"},
	{0,
	    "08747669a0e8918f3b28a315c285acb1af95bccf59cb0dd4b02976d0d32a6680bdb21bbc586406e6966bfd94d209433f"
	    "f8e697269845153dda768ffdfaf5b99514ff402d419fb6941bec7262954d6665c8b3eb179b64e3708ce2da593e2e734f"
	    "fe2a72d326ba61803ae333eb2d1fe9be7367501944c20c9a3da6acbdc6043fcb3a28b4ff6909c4fe566c471ed4ee1468"
	    "25d1a27892b5650508292372a2179d69f265ef383d6b227b83d140c0a34bec45002b594f973aaf8265843594ab5608cd"
	    "a39295dd0e82f5018cb007ffe9fbe005afc28edce30c252fafa011f085db80dfccf06544584e932b66e772b0",
	    "02e298852020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020202020"
	    "20202020202020202020202020202020202020202020202020202020202020202020"},
};

static const capture_t cap_udp = {
	.key = "QsTpzrTt6h5A056TtxBetw==",
	.req_head = "GET /avSqz9OPmzalCdQudJhnajdl0xZazOmuclCMgWKSUGc= HTTP/1.1\r\n"
	    "Host: 127.0.0.1:18767\r\n"
	    "Sec-WebSocket-Key: Rju4R3wzl3bhlS6bqsepDA==\r\n"
	    "Sec-WebSocket-Version: 13\r\n"
	    "Pragma: no-cache\r\n"
	    "Cache-Control: no-cache\r\n"
	    "Connection: Upgrade\r\n"
	    "Upgrade: WebSocket\r\n"
	    "\r\n",
	.resp_head = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Upgrade: WebSocket\r\n"
	    "Connection: Upgrade\r\n"
	    "Sec-WebSocket-Accept: rQdXhQoLVHO2sWCWunAaB7O72k8=\r\n"
	    "\r\n",
	.uri_plain = "0341dac090a162960000017f00000146b370696e6730",
	.msgs = udp_msgs,
	.nmsgs = 7,
};

/* clang-format on */

/* ---- helpers ---- */

static uint8_t *unhex(const char *h, size_t *n)
{
	size_t len = strlen(h) / 2;
	uint8_t *out = malloc(len + 1);

	assert_non_null(out);
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
	*n = len;
	return out;
}

static double be_double(const uint8_t *p)
{
	uint64_t v = 0;
	double d;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	memcpy(&d, &v, sizeof(d));
	return d;
}

static const http_str_t *head_parse(http_req_t *r, const char *head)
{
	size_t used = 0;

	http_req_init(r);
	assert_int_equal(http_req_feed(r, (const uint8_t *)head, strlen(head), &used), HTTP_DONE);
	return http_req_header(r, "Sec-WebSocket-Key");
}

/* An RST's plaintext: reason, "★", error, then `pad` spaces. */
static void rst_split(const uint8_t *p, size_t n, char *reason, char *err, size_t *pad)
{
	const uint8_t *star = NULL;

	*pad = 0;
	while (*pad < n && p[n - 1 - *pad] == ' ')
		(*pad)++;
	n -= *pad;
	for (size_t i = 0; i + 3 <= n && !star; i++)
		if (!memcmp(p + i, "\xe2\x98\x85", 3))
			star = p + i;
	assert_non_null(star);
	memcpy(reason, p, (size_t)(star - p));
	reason[star - p] = 0;
	memcpy(err, star + 3, n - (size_t)(star + 3 - p));
	err[n - (size_t)(star + 3 - p)] = 0;
}

/* Replay a whole capture through sluice: open everything as the receiving
 * side would, rebuild everything as the sending side would. */
static void check_capture(const capture_t *cp, int compat)
{
	wstan_key_t k;
	http_req_t req;
	const http_str_t *wk, *ck;
	char wskey[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], enc[4096];
	uint8_t cn[WSTAN_NONCE], sn[WSTAN_NONCE], raw[WSTAN_URI_MAX], buf[WSTAN_URI_MAX], acc[24];
	wstan_ctr_t s_rx, s_tx, c_rx, c_tx; /* server and client, each direction */
	uint8_t *up;
	size_t upl, sp;
	wstan_msg_t m;
	int n;

	assert_int_equal(wstan_key_init(&k, cp->key), 0);
	wk = head_parse(&req, cp->req_head);
	assert_non_null(wk);
	assert_int_equal(wk->len, WS_KEY_LEN);
	memcpy(wskey, wk->p, WS_KEY_LEN);
	wskey[WS_KEY_LEN] = 0;
	ck = http_req_header(&req, "Cookie");
	if (compat) {
		assert_non_null(ck);
		assert_int_equal(wstan_cookie_nonce(ck->p, ck->len, k.cookie, cn), 0);
		wstan_nonce_compat(cn, sn);
	} else {
		assert_null(ck);
		assert_int_equal(b64_decode(wskey, WS_KEY_LEN, cn, sizeof(cn)), WSTAN_NONCE);
		wstan_nonce_default(wskey, sn);
		/* the server's nonce is the head of its Sec-WebSocket-Accept */
		ws_accept_for(wskey, accept);
		assert_non_null(strstr(cp->resp_head, accept));
		assert_int_equal(b64_decode(accept, strlen(accept), acc, sizeof(acc)), 20);
		assert_memory_equal(acc, sn, WSTAN_NONCE);
	}

	/* the request in the URI, as a server opens it */
	n = wstan_path_decode(req.target.p, req.target.len, "/", raw, sizeof(raw));
	assert_true(n > 0);
	sp = wstan_b64url_pad(raw, (size_t)n, enc);
	assert_int_equal(req.target.len, sp + 1);
	assert_memory_equal(req.target.p + 1, enc, sp);
	memcpy(buf, raw, (size_t)n);
	assert_int_equal(wstan_ctr_init(&s_rx, &k, cn), 0);
	assert_int_equal(wstan_msg_open(&s_rx, &k, buf, (size_t)n, 1, &m), 0);
	up = unhex(cp->uri_plain, &upl);
	assert_int_equal(m.cmd, up[0]);
	assert_true(m.cmd == WSTAN_REQ || m.cmd == WSTAN_DGM);
	assert_true(m.has_ts && m.has_target);
	assert_true(m.ts == be_double(up + 1));
	assert_int_equal(m.dlen, upl - (size_t)(m.data - buf));
	assert_memory_equal(m.data, up + (m.data - buf), m.dlen);
	assert_string_equal(m.target.host, "127.0.0.1");

	/* ... and as a client builds it: the same bytes */
	assert_int_equal(wstan_ctr_init(&c_tx, &k, cn), 0);
	assert_int_equal(wstan_req_build(&c_tx, &k, m.cmd == WSTAN_DGM, m.ts, &m.target, m.data,
	                                 m.dlen, buf, sizeof(buf)),
	                 n);
	assert_memory_equal(buf, raw, (size_t)n);
	free(up);

	assert_int_equal(wstan_ctr_init(&s_tx, &k, sn), 0);
	assert_int_equal(wstan_ctr_init(&c_rx, &k, sn), 0);
	for (size_t i = 0; i < cp->nmsgs; i++) {
		const vmsg_t *v = &cp->msgs[i];
		wstan_ctr_t *dec = v->c2s ? &s_rx : &c_rx, *bld = v->c2s ? &c_tx : &s_tx;
		size_t wl, pl, pad;
		uint8_t *w = unhex(v->wire, &wl), *p = unhex(v->plain, &pl), *b = malloc(wl + 1);
		char reason[200], err[200];

		assert_non_null(b);
		memcpy(b, w, wl);
		assert_int_equal(wstan_msg_open(dec, &k, b, wl, 0, &m), 0);
		assert_int_equal(m.cmd, p[0]);
		switch (m.cmd) {
		case WSTAN_DGM: /* no timestamp, no MAC: the address, then the datagram */
			assert_true(m.has_target);
			assert_int_equal(m.dlen + (size_t)(m.data - b), pl);
			assert_memory_equal(m.data, p + (m.data - b), m.dlen);
			/* sluice's builder (the hop's datagrams, the server's replies)
			 * makes wstan's bytes from the address and the datagram */
			{
				uint8_t *d = malloc(m.dlen + 1);
				assert_non_null(d);
				memcpy(d, m.data, m.dlen);
				assert_int_equal(
				    wstan_dgm_build(bld, &m.target, d, m.dlen, b, wl + 1), (int)wl);
				assert_memory_equal(b, w, wl);
				free(d);
			}
			break;
		case WSTAN_DAT:
			assert_int_equal(m.dlen + (size_t)(m.data - b), pl);
			assert_memory_equal(m.data, p + (m.data - b), m.dlen);
			memcpy(b, p, pl);
			wstan_ctr_apply(bld, b, pl);
			assert_int_equal(pl, wl);
			break;
		case WSTAN_RST:
			rst_split(p + 1, pl - 1, reason, err, &pad);
			assert_string_equal(m.reason, reason);
			assert_string_equal(m.err, err);
			assert_true(pad >= WSTAN_RST_PAD_MIN && pad <= WSTAN_RST_PAD_MAX);
			assert_int_equal(wstan_rst_build(bld, &k, reason, err, pad, b, wl + 1),
			                 (int)wl);
			break;
		case WSTAN_REQ:
			assert_true(v->c2s);
			assert_true(m.ts == be_double(p + 1));
			assert_int_equal(
			    wstan_req_build(bld, &k, 0, m.ts, &m.target, m.data, m.dlen, b, wl + 1),
			    (int)wl);
			break;
		default:
			fail();
		}
		assert_memory_equal(b, w, wl);
		free(w);
		free(p);
		free(b);
	}
	wstan_ctr_free(&s_rx);
	wstan_ctr_free(&s_tx);
	wstan_ctr_free(&c_rx);
	wstan_ctr_free(&c_tx);
	http_req_free(&req);
}

static int has_text(const capture_t *cp, size_t i, const char *s)
{
	size_t pl;
	uint8_t *p = unhex(cp->msgs[i].plain, &pl);
	int r = memmem(p, pl, s, strlen(s)) != NULL;

	free(p);
	return r;
}

/* ---- tests ---- */

static void test_keys(void **st)
{
	wstan_key_t k, k2;
	uint8_t want[32];
	size_t n;
	uint8_t *h;

	assert_int_equal(wstan_key_init(&k, "QsTpzrTt6h5A056TtxBetw=="), 0);
	h = unhex("42c4e9ceb4edea1e40d39e93b7105eb7", &n);
	assert_int_equal(k.len, 16);
	assert_memory_equal(k.k, h, 16);
	free(h);
	assert_string_equal(k.cookie, "_X");
	/* scrypt(N=2^14, r=8, p=1) with wstan's salt, computed by Python */
	assert_int_equal(wstan_key_init(&k, "correct horse battery staple"), 0);
	h = unhex("ebb803658289897e6c8c5cf48300651b5012ea64cd9cb0830d4ce31451e106a2", &n);
	assert_int_equal(k.len, 32);
	memcpy(want, h, 32);
	free(h);
	assert_memory_equal(k.k, want, 32);
	assert_string_equal(k.cookie, "_V");
	/* Python's b64decode: junk skipped, padding ends it, else a password */
	assert_int_equal(wstan_key_init(&k, "QsTp zrTt6h5A056T$txBetw=="), 0);
	assert_int_equal(wstan_key_init(&k2, "QsTpzrTt6h5A056TtxBetw==AAAA"), 0);
	assert_int_equal(k.len, 16);
	assert_int_equal(k2.len, 16);
	assert_memory_equal(k.k, k2.k, 16);
	assert_int_equal(wstan_key_init(&k, "QsTpzrTt6h5A056TtxBetw"), 0); /* bad padding */
	assert_int_equal(k.len, 32);
	assert_int_equal(wstan_key_init(&k, "QsTpzrTt6h5A056TtxBetw=x="), 0); /* 17 bytes */
	assert_int_equal(k.len, 32);
	assert_int_equal(wstan_key_init(&k, "AAAAAAAAAAAAAAAAAAAAAAAA"), 0); /* 18 bytes */
	assert_int_equal(k.len, 32);
	assert_int_equal(wstan_key_init(&k, ""), -EINVAL);
}

static void test_capture_default(void **st)
{
	check_capture(&cap_default, 0);
	assert_true(has_text(&cap_default, 0, "HTTP/1.0 200 OK"));
	assert_true(has_text(&cap_default, 5, "hello-wstan\n"));
}

static void test_capture_compat(void **st)
{
	check_capture(&cap_compat, 1);
}

static void test_capture_password(void **st)
{
	check_capture(&cap_password, 0);
}

static void test_capture_udp(void **st)
{
	check_capture(&cap_udp, 0);
	assert_true(has_text(&cap_udp, 0, "echo:ping0"));
	assert_true(has_text(&cap_udp, 1, "ping1"));
}

static void test_capture_refused(void **st)
{
	wstan_key_t k;
	wstan_ctr_t rx;
	http_req_t req;
	const http_str_t *wk;
	char wskey[WS_KEY_LEN + 1];
	uint8_t sn[WSTAN_NONCE], *w;
	wstan_msg_t m;
	size_t wl;

	check_capture(&cap_refused, 0);
	/* what a client shows: the server's reason and error */
	assert_int_equal(wstan_key_init(&k, cap_refused.key), 0);
	wk = head_parse(&req, cap_refused.req_head);
	memcpy(wskey, wk->p, WS_KEY_LEN);
	wskey[WS_KEY_LEN] = 0;
	wstan_nonce_default(wskey, sn);
	assert_int_equal(wstan_ctr_init(&rx, &k, sn), 0);
	w = unhex(cap_refused.msgs[0].wire, &wl);
	assert_int_equal(wstan_msg_open(&rx, &k, w, wl, 0, &m), 0);
	assert_int_equal(m.cmd, WSTAN_RST);
	assert_string_equal(m.reason, "can't connect to 127.0.0.1:1");
	assert_string_equal(m.err, "[Errno 111] Connect call failed ('127.0.0.1', 1)");
	free(w);
	wstan_ctr_free(&rx);
	http_req_free(&req);
}

/* wstan's algorithm once more, from its doc, on raw OpenSSL: decrypt with
 * AES-CTR (128 or 256 by key size) and check the truncated HMAC-SHA1. */
static size_t indep_open(const uint8_t *key, size_t klen, const uint8_t iv[16], const uint8_t *in,
                         size_t n, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	uint8_t md[20];
	unsigned ml = 20;
	int ol = 0;

	HMAC(EVP_sha1(), key, (int)klen, in, n - 10, md, &ml);
	assert_memory_equal(md, in + n - 10, 10);
	assert_non_null(c);
	assert_int_equal(EVP_DecryptInit_ex(c, klen == 32 ? EVP_aes_256_ctr() : EVP_aes_128_ctr(),
	                                    NULL, key, iv),
	                 1);
	assert_int_equal(EVP_DecryptUpdate(c, out, &ol, in, (int)(n - 10)), 1);
	EVP_CIPHER_CTX_free(c);
	return n - 10;
}

static void test_independent(void **st)
{
	static const struct {
		const char *key, *host;
		uint16_t port;
		int dgm;
		const char *addr_hex;
	} cases[] = {
	    {"QsTpzrTt6h5A056TtxBetw==", "2001:db8::1", 443, 0,
	     "000420010db800000000000000000000000101bb"},
	    {"QsTpzrTt6h5A056TtxBetw==", "example.org", 80, 0, "00030b6578616d706c652e6f72670050"},
	    {"a password", "10.1.2.3", 53, 1,
	     "00010a01020300"
	     "35"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wstan_key_t k;
		wstan_ctr_t tx;
		target_t t;
		uint8_t iv[16], out[512], plain[512], *addr;
		size_t al, pl;
		int n;

		assert_int_equal(wstan_key_init(&k, cases[i].key), 0);
		memset(iv, 0xa5, sizeof(iv));
		iv[15] = 0xff; /* the counter carries into byte 14 at once */
		assert_int_equal(target_set(&t, cases[i].host, cases[i].port), 0);
		assert_int_equal(wstan_ctr_init(&tx, &k, iv), 0);
		n = wstan_req_build(&tx, &k, cases[i].dgm, 1700000000.25, &t, (const uint8_t *)"hi",
		                    2, out, sizeof(out));
		assert_true(n > 0);
		pl = indep_open(k.k, k.len, iv, out, (size_t)n, plain);
		addr = unhex(cases[i].addr_hex, &al);
		assert_int_equal(plain[0], cases[i].dgm ? WSTAN_DGM : WSTAN_REQ);
		assert_true(be_double(plain + 1) == 1700000000.25);
		assert_int_equal(pl, 9 + al + 2);
		assert_memory_equal(plain + 9, addr, al);
		assert_memory_equal(plain + 9 + al, "hi", 2);
		free(addr);
		wstan_ctr_free(&tx);
	}
}

/* Sign a plaintext message as a key holder in TLS mode (no encryption). */
static size_t sign(const wstan_key_t *k, uint8_t *p, size_t n)
{
	uint8_t md[20];
	unsigned ml = 20;

	HMAC(EVP_sha1(), k->k, (int)k->len, p, n, md, &ml);
	memcpy(p + n, md, 10);
	return n + 10;
}

static void test_bad(void **st)
{
	wstan_key_t k, other;
	wstan_ctr_t none = {0};
	wstan_msg_t m;
	uint8_t b[600];
	size_t n;
	static const char *const addrs[] = {
	    "0101"
	    "7f000001"
	    "0050", /* RSV not 0 */
	    "0005"
	    "7f000001"
	    "0050", /* unknown ATYP */
	    "0003"
	    "00"
	    "0050", /* empty name */
	    "0003"
	    "03"
	    "612062"
	    "0050", /* a space in the name */
	    "0003"
	    "03"
	    "610062"
	    "0050", /* a NUL in the name */
	    "0001"
	    "7f0000", /* short */
	    "0004"
	    "00000000000000000000000000000001", /* no port */
	    "",
	};

	assert_int_equal(wstan_key_init(&k, "QsTpzrTt6h5A056TtxBetw=="), 0);
	assert_int_equal(wstan_key_init(&other, "AAAAAAAAAAAAAAAAAAAAAA=="), 0);
	/* a good one, in TLS mode: cmd ts addr data MAC */
	memset(b, 0, sizeof(b));
	b[0] = WSTAN_REQ;
	memcpy(b + 9,
	       "\x00\x01\x7f\x00\x00\x01\x00\x50"
	       "data",
	       12);
	n = sign(&k, b, 21);
	assert_int_equal(wstan_msg_open(&none, &k, b, n, 1, &m), 0);
	assert_string_equal(m.target.host, "127.0.0.1");
	assert_int_equal(m.target.port, 80);
	assert_int_equal(m.dlen, 4);
	assert_int_equal(wstan_msg_open(&none, &other, b, n, 1, &m), -EBADMSG);
	b[12] ^= 1;
	assert_int_equal(wstan_msg_open(&none, &k, b, n, 1, &m), -EBADMSG);
	b[12] ^= 1;
	assert_int_equal(wstan_msg_open(&none, &k, b, 9, 1, &m), -EINVAL);
	assert_int_equal(wstan_msg_open(&none, &k, b, 0, 0, &m), -EINVAL);
	/* too short for a timestamp, but signed */
	n = sign(&k, b, 5);
	assert_int_equal(wstan_msg_open(&none, &k, b, n, 1, &m), -EINVAL);
	/* DAT cannot come in a URI; 4 is no command */
	b[0] = WSTAN_DAT;
	n = sign(&k, b, 21);
	assert_int_equal(wstan_msg_open(&none, &k, b, n, 1, &m), -EINVAL);
	assert_int_equal(wstan_msg_open(&none, &k, b, 5, 0, &m), 0);
	assert_int_equal(m.dlen, 4);
	b[0] = 4;
	assert_int_equal(wstan_msg_open(&none, &k, b, 5, 0, &m), -EINVAL);
	for (size_t i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		size_t al;
		uint8_t *a = unhex(addrs[i], &al);

		memset(b, 0, sizeof(b));
		b[0] = WSTAN_REQ;
		memcpy(b + 9, a, al);
		n = sign(&k, b, 9 + al);
		assert_int_equal(wstan_msg_open(&none, &k, b, n, 0, &m), -EINVAL);
		free(a);
	}
	/* an in-tunnel datagram has no timestamp and no MAC */
	memcpy(b,
	       "\x03\x00\x03\x03"
	       "abc"
	       "\x00\x35"
	       "q",
	       10);
	assert_int_equal(wstan_msg_open(&none, &k, b, 10, 0, &m), 0);
	assert_string_equal(m.target.host, "abc");
	assert_int_equal(m.target.port, 53);
	assert_int_equal(m.dlen, 1);
}

static void test_rst_text(void **st)
{
	wstan_key_t k;
	wstan_ctr_t none = {0};
	wstan_msg_t m;
	uint8_t b[600];
	int n;

	assert_int_equal(wstan_key_init(&k, "QsTpzrTt6h5A056TtxBetw=="), 0);
	n = wstan_rst_build(&none, &k, "why", "err", 40, b, sizeof(b));
	assert_int_equal(n, 1 + 3 + 3 + 3 + 40 + 10);
	assert_int_equal(wstan_msg_open(&none, &k, b, (size_t)n, 0, &m), 0);
	assert_string_equal(m.reason, "why");
	assert_string_equal(m.err, "err");
	n = wstan_rst_build(&none, &k, "", "", 500, b, sizeof(b));
	assert_int_equal(wstan_msg_open(&none, &k, b, (size_t)n, 0, &m), 0);
	assert_string_equal(m.reason, "");
	assert_string_equal(m.err, "");
	assert_int_equal(wstan_rst_build(&none, &k, "", "", 590, b, sizeof(b)), -ENOSPC);
	/* an old server's reason without the star; bytes that are not ASCII */
	memcpy(b, "\x02no star  \t", 11);
	n = (int)sign(&k, b, 11);
	assert_int_equal(wstan_msg_open(&none, &k, b, (size_t)n, 0, &m), 0);
	assert_string_equal(m.reason, "no star");
	assert_string_equal(m.err, "");
	memcpy(b, "\x02\xc3\xa9\xe2\x98\x85\x01x ", 9);
	n = (int)sign(&k, b, 9);
	assert_int_equal(wstan_msg_open(&none, &k, b, (size_t)n, 0, &m), 0);
	assert_string_equal(m.reason, "??");
	assert_string_equal(m.err, "?x");
}

static void test_path(void **st)
{
	uint8_t out[64];
	char enc[32];

	assert_int_equal(wstan_b64url_pad((const uint8_t *)"\xfb\xff", 2, enc), 4);
	assert_string_equal(enc, "-_8=");
	assert_int_equal(wstan_path_decode("/-_8=", 5, "/", out, sizeof(out)), 2);
	assert_memory_equal(out, "\xfb\xff", 2);
	assert_int_equal(wstan_path_decode("/-_8=?x=1", 9, "/", out, sizeof(out)), 2);
	assert_int_equal(wstan_path_decode("/t/-_8=", 7, "/t", out, sizeof(out)), 2);
	assert_int_equal(wstan_path_decode("/t/-_8=", 7, "/t/", out, sizeof(out)), 2);
	assert_int_equal(wstan_path_decode("/u/-_8=", 7, "/t", out, sizeof(out)), -EINVAL);
	assert_int_equal(wstan_path_decode("/", 1, "/", out, sizeof(out)), -EINVAL);
	assert_int_equal(wstan_path_decode("/t", 2, "/t", out, sizeof(out)), -EINVAL);
	assert_int_equal(wstan_path_decode("/a%b", 4, "/", out, sizeof(out)), -EINVAL);
	assert_int_equal(wstan_path_decode("/AAAAAAAA", 9, "/", out, 2), -EINVAL);
}

static void test_cookie(void **st)
{
	static const char h[] = "a=b; _X=3DRdpRVhN8wK/gd+5gJNKQ== ;c=d";
	uint8_t n[WSTAN_NONCE];
	size_t wl;
	uint8_t *want = unhex("dc345da5156137cc0afe077ee6024d29", &wl);

	assert_int_equal(wstan_cookie_nonce(h, strlen(h), "_X", n), 0);
	assert_memory_equal(n, want, 16);
	assert_int_equal(wstan_cookie_nonce(h, strlen(h), "_Y", n), -ENOENT);
	assert_int_equal(wstan_cookie_nonce(h, strlen(h), "a", n), -EINVAL);
	assert_int_equal(wstan_cookie_nonce("", 0, "_X", n), -ENOENT);
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keys),
	    cmocka_unit_test(test_capture_default),
	    cmocka_unit_test(test_capture_compat),
	    cmocka_unit_test(test_capture_password),
	    cmocka_unit_test(test_capture_refused),
	    cmocka_unit_test(test_capture_udp),
	    cmocka_unit_test(test_independent),
	    cmocka_unit_test(test_bad),
	    cmocka_unit_test(test_rst_text),
	    cmocka_unit_test(test_path),
	    cmocka_unit_test(test_cookie),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
