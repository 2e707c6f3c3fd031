from idp.cli import main

main()
