"""Remote runs on Azure ML: the same composed config and entrypoints, submitted as command
and sweep jobs through the real azure-ai-ml SDK (imported inside the functions that use it)."""
