"""Layer 3, the wiring: the coaching loop, the daemon, the demo, the command line and its
subcommands. The only layer that may import every other package of the project.
"""
