"""Style transfer for sound through spectrograms."""
