"""unsupervised"""
