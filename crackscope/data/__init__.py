"""Data: layouts people have, patches, splits, augmentation, synthetic cracks and inspection."""
