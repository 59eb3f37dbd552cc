-- Run once by the postgres image on an empty data volume: the database of MLflow's basic-auth
-- app (users and permissions), beside the tracking store's own database.
CREATE DATABASE mlflow_auth;
