// A tagged field (KIP-482) whose tag this codec does not know. Decoders keep it as raw bytes so that a proxy that
// decodes and re-encodes a message forwards fields added by newer Kafka versions unchanged.

export interface TaggedField {
  tag: number;
  /** The field's value exactly as it was on the wire (a slice of the input, not a copy). */
  data: Buffer;
}
