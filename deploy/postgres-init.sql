-- The schema registry keeps its schemas in its own database next to DeepLens's.
create database apicurio;
