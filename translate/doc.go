// Package translate converts between the gateway's client envelopes and
// Socket.IO event and ack payloads (CONTRACT.md §2). It is pure: no I/O,
// goroutines, contexts or logging, only transforms over raw JSON bytes.
//
// # Byte for byte
//
// Values are never decoded into Go types and re-encoded. A one-pass scanner
// (translate/internal/jsonscan) validates each frame and finds the spans of
// its members, and the output is spliced from those spans, so a number such
// as 12345678901234567890, 1.50 or 1e400 arrives exactly as it was sent, as
// does every string with its escapes and any whitespace inside a value. The
// only rewrites are the $binary substitutions. Structure that the gateway
// writes itself (the envelope, the payload array) is compact. Appending to
// a reused buffer, the non-binary paths do not allocate.
//
// # Client → upstream
//
// DecodeText turns a text frame into a ClientMessage: a Socket.IO payload
// array plus attachments, or a *FrameError to answer with an error frame.
//
//	{"event":"chat","data":X}          → ["chat",X]
//	{"event":"chat","args":[A,B]}      → ["chat",A,B]
//	{"event":"chat"}                   → ["chat"]
//	{"event":"chat","data":X,"id":ID}  → ["chat",X], ID kept to echo in the ack
//	{"ack":N,"data":X} / "args" / none → [X] / [A,B] / [] answering ack id N
//	anything else                      → ["message","<frame text>"] (RawFrames)
//
// DecodeBinary turns a binary frame into ["binary",<attachment 0>].
//
// Where the contract is silent, the translator decides as follows.
//
//   - Keys other than the five envelope keys are ignored, so legacy frames
//     with extra members still fit. An envelope key given twice is
//     invalid_frame. Keys match after JSON unescaping ("\u0065vent" is
//     "event").
//   - A frame that is not valid JSON is a raw frame even when it looks like
//     an envelope: the contract says so, and with RawFrames off it is
//     refused with invalid_json.
//   - The event name must be a JSON string (Socket.IO also allows numbers;
//     the contract does not). It is copied raw, escapes included; the
//     reserved-name check compares the unescaped name. An empty name is
//     allowed.
//   - data may be any JSON value, null included. args must be an array;
//     null is not one.
//   - An ack value must be a JSON string or number, else invalid_frame. A
//     string, or a number that is not a plain non-negative integer of at
//     most MaxAckID (2^53-1, the ids Socket.IO can carry), cannot be an id
//     the gateway issued: unknown_ack. A valid integer becomes AckID; the
//     caller decides unknown_ack for ids it never issued or already saw
//     answered. The id key is not read on ack frames.
//   - FrameError.ID (the error frame's "id") is the frame's id on event
//     frames and its ack value on ack frames, when that token is one valid
//     string or number and its key appears once; otherwise nil.
//   - Errors are checked in a fixed order: duplicate key, event with ack,
//     data with args, args type, event type, id or ack type, nesting and
//     attachment limits, reserved name, unknown ack, $binary contents.
//   - A $binary value is only recognised inside data or args, in an object
//     whose only member is "$binary" with a string value; other objects
//     with a $binary member pass through. Standard and URL-safe base64 are
//     accepted, padded or not, with line breaks ignored; anything else
//     (including wrong padding) is invalid_frame. Attachments are numbered
//     in the order they appear in the frame.
//   - Duplicate keys inside data and args pass through like any other
//     bytes. A $binary value under a key that a later duplicate shadows
//     still becomes an attachment; the upstream's JSON.parse keeps the last
//     duplicate, and socket.io-parser drops the unreferenced attachment.
//   - In a frame that has $binary values, an object with
//     "_placeholder":true is refused (invalid_frame): socket.io-parser
//     would read it as a reference to an attachment and, with a bad num,
//     close the whole upstream connection. Without $binary values the
//     packet is a plain EVENT and such objects pass through.
//   - At most MaxAttachments $binary values per frame (default 10,
//     socket.io-parser's own limit), and arguments nested at most MaxDepth
//     (1000) levels deep; beyond either, invalid_frame. Values outside
//     data and args are validated but not limited.
//
// # Upstream → client
//
// AppendEvent and AppendAck turn a packet's payload array into a frame:
// {"event":NAME} or {"ack":ID} with "data" for one argument, "args" for
// several and neither for none, plus "id" when the upstream asked for an
// ack. Placeholders become {"$binary":"<standard base64>"} when the packet
// has attachments; a placeholder is an object whose "_placeholder" member
// is true, replaced as a whole like socket.io-parser does, and its num
// must name an attachment. A payload that is not valid JSON, not an array,
// an event without a name (or with a reserved one, which would collide with
// the lifecycle events) or a bad placeholder is an error; the caller drops
// the packet. AppendError, AppendConnect and AppendDisconnect write the
// gateway's own frames.
//
// # Concurrency
//
// A Translator is immutable after New and safe for concurrent use. Results
// alias their inputs where documented (ClientMessage.ID, FrameError.ID and
// the binary frame in DecodeBinary's attachments alias the frame).
package translate
