"""Training: tasks simulated on the fly, the loop, run folders and the checkpoint policy."""
