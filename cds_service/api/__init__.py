"""The Flask layer, kept thin: HTTP in, use cases called, errors translated to OperationOutcomes."""
