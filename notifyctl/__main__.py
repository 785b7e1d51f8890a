from notifyctl.cli import main

main()
