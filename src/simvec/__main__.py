from simvec.cli import main

main()
