// The fixed set of reasons a packet or record is not (fully) decoded.
//
// Every reason is counted per exporter; none escapes the receive loop. Expected
// outcomes ("template not yet received") are reasons too, not exceptions.

export const DECODE_REASONS = [
  "truncated", // packet/set/record shorter than its grammar requires
  "bad_version", // unknown export version
  "bad_length", // a length field lies (beyond the packet, below the minimum, zero where not allowed)
  "bad_count", // header record count disagrees with the records present
  "template_missing", // data set whose template is not (yet) known; buffered if possible
  "template_invalid", // template/options template that cannot be used (zero fields, bad lengths, too long)
  "template_limit", // per-exporter template cap reached; template ignored
  "pending_overflow", // pre-template buffer full; oldest buffered data dropped
  "pending_expired", // buffered data whose template never came in time
  "field_length", // a field whose length does not fit its type (e.g. a 3-byte address)
  "bad_set_id", // reserved / invalid set or flowset id
  "padding", // non-zero padding or trailing garbage after the last set
  "sample_unknown", // sFlow: unknown sample/record format, skipped by length
  "header_unparsed", // sampled packet header could not be parsed past some layer
  "other",
] as const;

export type DecodeReason = (typeof DECODE_REASONS)[number];

/** Thrown inside a decoder for malformed input; caught per packet by the decoder entry point. */
export class DecodeError extends Error {
  readonly reason: DecodeReason;
  constructor(reason: DecodeReason, message: string) {
    super(message);
    this.reason = reason;
  }
}
