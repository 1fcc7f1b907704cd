from crackscope.cli import main

main()
