from curate.cli import main

if __name__ == "__main__":  # worker processes may import this module; only the real entry runs
    main()
