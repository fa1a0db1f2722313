"""`python -m service.cli ...`: the `authz` command."""
from .main import main

if __name__ == "__main__":
    main()
