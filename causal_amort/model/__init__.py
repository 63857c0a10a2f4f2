"""The order model: streamed statistics and cues, the encoders, the state across chunks, the decoders, checkpoints."""
