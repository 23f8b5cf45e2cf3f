"""Apache Beam wiring: one composite PTransform per stage."""
