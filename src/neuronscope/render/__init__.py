"""Results to pictures: image grids, weight images, heatmaps (render never runs a model)."""
