from msmvp.cli import main

main()
