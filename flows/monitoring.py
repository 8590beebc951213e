"""Deployable entry point of the hourly monitoring flow (defined in ``nbrec.flows.monitoring``)."""

from nbrec.flows.monitoring import monitoring

__all__ = ["monitoring"]

if __name__ == "__main__":
    print(monitoring())
