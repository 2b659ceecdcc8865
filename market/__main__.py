from market.app.cli import main

main()
