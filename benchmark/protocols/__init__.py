"""Split protocols: official, paired, repeated CV, a split file, learning curves; hashed, patient-disjoint split files."""
