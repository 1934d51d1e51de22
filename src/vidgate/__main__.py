from vidgate.cli import main

main()
