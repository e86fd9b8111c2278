from auditlog.cli import main

main()
