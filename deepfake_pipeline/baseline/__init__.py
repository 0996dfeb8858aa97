"""Step 3: logistic regression on the features, its protocols, the shortcut check, scoring new clips."""
