from msmvp.entry import main

main()
