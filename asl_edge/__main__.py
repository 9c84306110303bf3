from asl_edge.cli import main

main()
