from pdm.cli.main import main

main()
