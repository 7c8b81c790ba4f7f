"""Server-rendered pages for operators: task lists, a task drawn as a live graph, template pages."""
