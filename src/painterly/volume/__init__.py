"""Style transfer for 3D density volumes (smoke), after Kim et al. 2019."""
