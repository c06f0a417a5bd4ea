"""Split protocols: official, paired, repeated CV, a split file; hashed, patient-disjoint split files."""
