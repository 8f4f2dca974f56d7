from qbsync.cli import main

main()
