/* sstp_proto: the wire format of MS-SSTP (Secure Socket Tunneling
 * Protocol), both sides.  Pure: bytes in, bytes out, no I/O, no loop.
 *
 * Layout (MS-SSTP 2.2):
 *   packet     version(1) = 0x10 | reserved(7 bits) C(1 bit) | R(4 bits) length(12 bits)
 *              length counts the 4-byte header; C = 1 control, 0 data
 *   data       header + one whole PPP frame
 *   control    header + message type(2) + attribute count(2) + attributes
 *   attribute  reserved(1) | id(1) | R(4 bits) length(12 bits) | value
 *              length counts the 4-byte attribute header
 *
 * Crypto binding (MS-SSTP 3.2.5.2): the client answers Call Connect Ack's
 * nonce with Call Connected carrying the nonce, the hash of the server's
 * certificate and a Compound MAC:
 *   HLAK = MasterSendKey(16) | MasterReceiveKey(16)   (client side, MS-CHAPv2;
 *          32 zero bytes for PAP and CHAP)
 *   CMK  = HMAC-H(HLAK, "SSTP inner method derived CMK" | LEN(2, little endian) | 0x01)
 *          LEN = the digest size (20 for SHA-1, 32 for SHA-256)
 *   MAC  = HMAC-H(CMK, the whole 112-byte Call Connected packet with the MAC zeroed)
 * SHA-1 values (certificate hash, MAC) are padded with zeros to 32 bytes.
 */
#ifndef SLUICE_SSTP_PROTO_H
#define SLUICE_SSTP_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define SSTP_VERSION 0x10
#define SSTP_HDR_LEN 4
#define SSTP_MAX_PACKET 4095 /* the 12-bit length */
#define SSTP_MAX_ATTRS 8     /* more in one message is malformed here */

/* the request line's resource and the length every real client sends */
#define SSTP_URI "/sra_{BA195980-CD49-458b-9E23-C84EE0ADCD75}/"

enum {
	SSTP_MSG_CALL_CONNECT_REQUEST = 0x0001,
	SSTP_MSG_CALL_CONNECT_ACK = 0x0002,
	SSTP_MSG_CALL_CONNECT_NAK = 0x0003,
	SSTP_MSG_CALL_CONNECTED = 0x0004,
	SSTP_MSG_CALL_ABORT = 0x0005,
	SSTP_MSG_CALL_DISCONNECT = 0x0006,
	SSTP_MSG_CALL_DISCONNECT_ACK = 0x0007,
	SSTP_MSG_ECHO_REQUEST = 0x0008,
	SSTP_MSG_ECHO_RESPONSE = 0x0009,
};

enum {
	SSTP_ATTR_NO_ERROR = 0,
	SSTP_ATTR_ENCAPSULATED_PROTOCOL_ID = 1,
	SSTP_ATTR_STATUS_INFO = 2,
	SSTP_ATTR_CRYPTO_BINDING = 3,
	SSTP_ATTR_CRYPTO_BINDING_REQ = 4,
};

/* status values of the Status Info attribute (MS-SSTP 2.2.6) */
enum {
	SSTP_STATUS_NO_ERROR = 0,
	SSTP_STATUS_DUPLICATE_ATTRIBUTE = 1,
	SSTP_STATUS_UNRECOGNIZED_ATTRIBUTE = 2,
	SSTP_STATUS_INVALID_ATTRIB_VALUE_LENGTH = 3,
	SSTP_STATUS_VALUE_NOT_SUPPORTED = 4,
	SSTP_STATUS_UNACCEPTED_FRAME_RECEIVED = 5,
	SSTP_STATUS_RETRY_COUNT_EXCEEDED = 6,
	SSTP_STATUS_INVALID_FRAME_RECEIVED = 7,
	SSTP_STATUS_NEGOTIATION_TIMEOUT = 8,
	SSTP_STATUS_ATTRIB_NOT_SUPPORTED_IN_MSG = 9,
	SSTP_STATUS_REQUIRED_ATTRIBUTE_MISSING = 10,
	SSTP_STATUS_STATUS_INFO_NOT_SUPPORTED_IN_MSG = 11,
};

#define SSTP_HASH_SHA1 0x01
#define SSTP_HASH_SHA256 0x02

#define SSTP_CALL_CONNECTED_LEN 112 /* header 4 + 4 + attribute 104 */

/* ---- framing ---- */

/* Looks at the start of a byte stream.  Returns the length of the packet
 * that starts there once buf holds all of it (> 0), 0 when more bytes are
 * needed, -1 when it is malformed (version is not 0x10, length < 4). */
int sstp_packet_len(const uint8_t *buf, size_t len);
/* Is the whole packet pkt (as sized by sstp_packet_len) a control packet? */
int sstp_is_control(const uint8_t *pkt);
/* Writes the 4-byte header of a data packet carrying payload_len bytes;
 * payload_len + 4 must be <= SSTP_MAX_PACKET. */
void sstp_data_header(uint8_t out[4], size_t payload_len);

/* ---- a byte stream into packets (both sides) ---- */

/* The bytes of a connection: the HTTP head first (the request or the
 * answer, as the owner's head() judges it), then whole SSTP packets, each
 * handed to packet() where it lies in the chunk when nothing is buffered;
 * only a packet cut by a chunk's end is gathered in buf. */
typedef struct sstp_rx {
	uint8_t buf[2 * SSTP_MAX_PACKET + 8192];
	size_t len;
	int in_head; /* the owner sets it while the HTTP head is to come */
} sstp_rx_t;

typedef struct sstp_rx_cbs {
	/* the head: its length once complete (in_head is then cleared),
	 * 0 for more bytes, < 0 to stop (the owner ended the session) */
	long (*head)(void *ud, const uint8_t *p, size_t n);
	/* one whole packet: 0 to go on, < 0 to stop */
	int (*packet)(void *ud, const uint8_t *pkt, size_t n);
} sstp_rx_cbs_t;

enum {
	SSTP_RX_STOP = -1, /* a callback said stop */
	SSTP_RX_BAD = -2,  /* a malformed packet header */
	SSTP_RX_LONG = -3, /* the head does not fit in buf */
};
/* Feeds one chunk.  0, or one of SSTP_RX_*: the owner ends the session
 * (for BAD and LONG, with the reason they name). */
int sstp_rx_feed(sstp_rx_t *rx, const uint8_t *p, size_t len, const sstp_rx_cbs_t *cbs, void *ud);

/* ---- control messages ---- */

typedef struct sstp_attr {
	uint8_t id;
	const uint8_t *val; /* points into the packet */
	size_t len;         /* value length (attribute length - 4) */
} sstp_attr_t;

typedef struct sstp_ctrl {
	uint16_t type;
	unsigned nattrs;
	sstp_attr_t attrs[SSTP_MAX_ATTRS];
} sstp_ctrl_t;

/* Parses one whole control packet (header included).  0, or -1 when
 * malformed: lengths that disagree, an attribute running past the end,
 * more than SSTP_MAX_ATTRS attributes, an unknown message type. */
int sstp_parse_control(const uint8_t *pkt, size_t len, sstp_ctrl_t *c);
/* The first attribute with this id, or NULL. */
const sstp_attr_t *sstp_find_attr(const sstp_ctrl_t *c, uint8_t id);
/* Crypto Binding Request (value: reserved 3, hash bitmask 1, nonce 32).
 * 0, or -1 when the value has the wrong length. */
int sstp_attr_binding_req(const sstp_attr_t *a, uint8_t *hash_mask, uint8_t nonce[32]);
/* Status Info (value: reserved 3, attribute id 1, status 4, then the
 * offending attribute's value, up to 64 bytes).  0, or -1. */
int sstp_attr_status(const sstp_attr_t *a, uint8_t *attr_id, uint32_t *status,
                     const uint8_t **extra, size_t *extra_len);
/* The status of a message's Status Info attribute (Call Abort, Call
 * Disconnect, Nak), SSTP_STATUS_NO_ERROR when it has none or it is bad. */
uint32_t sstp_ctrl_status(const sstp_ctrl_t *c);
const char *sstp_msg_name(uint16_t type);      /* "CALL_CONNECT_ACK", "?" */
const char *sstp_status_name(uint32_t status); /* "NEGOTIATION_TIMEOUT", "?" */

/* Encoders: write into out (which must have room for the stated length)
 * and return the packet length. */
/* Call Connect Request with Encapsulated Protocol Id = PPP (14 bytes) */
size_t sstp_enc_connect_request(uint8_t out[14]);
/* A message without attributes: Echo Request/Response, Disconnect Ack (8 bytes) */
size_t sstp_enc_plain(uint8_t out[8], uint16_t type);
/* Call Abort or Call Disconnect with one Status Info attribute, or none
 * when status is SSTP_STATUS_NO_ERROR and attr_id is SSTP_ATTR_NO_ERROR
 * (20 or 8 bytes) */
size_t sstp_enc_status(uint8_t out[20], uint16_t type, uint8_t attr_id, uint32_t status);
/* Call Connected with the Crypto Binding attribute, Compound MAC computed
 * as above.  hash is SSTP_HASH_SHA1 or SSTP_HASH_SHA256; cert_hash is the
 * certificate's hash in that algorithm (20 or 32 bytes, padded here).
 * Returns SSTP_CALL_CONNECTED_LEN, or 0 if hash is neither. */
size_t sstp_enc_call_connected(uint8_t out[SSTP_CALL_CONNECTED_LEN], uint8_t hash,
                               const uint8_t nonce[32], const uint8_t *cert_hash,
                               const uint8_t hlak[32]);

/* ---- crypto binding pieces, exposed for tests ---- */
/* hlak from the client's MS-CHAPv2 master keys; NULL keys: 32 zero bytes */
void sstp_hlak_client(uint8_t hlak[32], const uint8_t *send_key16, const uint8_t *recv_key16);
/* CMK as above; returns the digest size (20 or 32), or 0 for a bad hash */
size_t sstp_cmk(uint8_t hash, const uint8_t hlak[32], uint8_t out[32]);

/* ---- the HTTP exchange ---- */

/* "SSTP_DUPLEX_POST <SSTP_URI> HTTP/1.1" with Host, SSTPCORRELATIONID
 * ({GUID} text, as given) and Content-Length: 18446744073709551615.
 * Returns the length written (< cap), or 0 if cap is too small. */
size_t sstp_http_request(char *out, size_t cap, const char *host, const char *guid);
/* A random GUID in the {8-4-4-4-12} upper-case form (39 bytes with NUL). */
void sstp_guid(char out[39]);
/* The server's response head.  Returns the length of the head (through
 * the blank line) once it is complete, with the status code in *status;
 * 0 when more bytes are needed; -1 when malformed or longer than 4096. */
int sstp_http_response(const uint8_t *buf, size_t len, int *status);

/* "sha256,sha1" (option hash=, both sides) into SSTP_HASH_* bits; 0, or
 * -EINVAL with a message naming the option. */
int sstp_hash_list_parse(const char *v, unsigned *mask, char *err, size_t errlen);

/* ---- the server side ---- */

#define SSTP_CONNECT_ACK_LEN 48 /* header 8 + Crypto Binding Request 40 */

/* Call Connect Ack with a Crypto Binding Request: the hashes offered
 * (SSTP_HASH_* bits) and the server's nonce. */
size_t sstp_enc_connect_ack(uint8_t out[SSTP_CONNECT_ACK_LEN], uint8_t hash_mask,
                            const uint8_t nonce[32]);
/* Encapsulated Protocol Id (value: protocol 2).  0, or -1. */
int sstp_attr_encap(const sstp_attr_t *a, uint16_t *proto);
#define SSTP_ENCAP_PPP 0x0001

/* Checks a client's Call Connected (the whole packet) against what the
 * server sent and holds: the nonce of its Ack, the hashes it offered, its
 * certificate's SHA-1 and SHA-256, and the HLAK from its MS-CHAPv2 keys
 * (sstp_hlak_server).  0 and *hash (the one the client chose), or one of
 * the SSTP_BIND_* failures below; the MAC is compared in constant time. */
enum {
	SSTP_BIND_MALFORMED = -1, /* not a 112-byte Call Connected with one Crypto Binding */
	SSTP_BIND_HASH = -2,      /* a hash the server did not offer */
	SSTP_BIND_NONCE = -3,     /* not the nonce of our Ack */
	SSTP_BIND_CERT = -4,      /* not our certificate: a TLS man in the middle */
	SSTP_BIND_MAC = -5,       /* the Compound MAC is wrong */
};
int sstp_check_call_connected(const uint8_t *pkt, size_t len, uint8_t hash_mask,
                              const uint8_t nonce[32], const uint8_t cert_sha1[20],
                              const uint8_t cert_sha256[32], const uint8_t hlak[32], uint8_t *hash);
const char *sstp_bind_error(int e);
/* The HLAK as the client computes it, from the server's MS-CHAPv2 master
 * keys (its send key is the client's receive key); NULL keys: zeros. */
void sstp_hlak_server(uint8_t hlak[32], const uint8_t *send_key16, const uint8_t *recv_key16);

/* A request head, through the blank line.  Returns its length once
 * complete, with *sstp = 1 when it is "SSTP_DUPLEX_POST <SSTP_URI>
 * HTTP/1.x" (the resource compared without case), 0 for any other
 * request; 0 when more bytes are needed; -1 when it is not an HTTP/1.x
 * request head or is longer than 4096 bytes. */
int sstp_http_request_parse(const uint8_t *buf, size_t len, int *sstp);
/* The answer to SSTP_DUPLEX_POST, as Windows' server gives it: 200 with
 * the endless Content-Length, Server and Date.  now is the time for Date.
 * Returns the length written, or 0 if cap is too small. */
size_t sstp_http_ok(char *out, size_t cap, long long now);

#endif
