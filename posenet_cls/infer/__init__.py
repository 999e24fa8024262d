"""Using a model: classify photos, follow videos and webcams, draw the annotations."""
