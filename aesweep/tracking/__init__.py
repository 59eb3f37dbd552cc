"""MLflow: one experiment per spec, one parent run per submission, one child run per trial.

The only package that imports mlflow.
"""
