"""Plain ``nn.Module`` models. Nothing here imports training, font or web code."""
