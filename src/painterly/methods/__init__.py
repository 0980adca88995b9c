"""Style transfer methods: optimisation (Gatys et al.); feed-forward and arbitrary style come later."""
