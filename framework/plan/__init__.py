"""The plan compiler, buffers and the parameter arena."""
