"""The benchmark command's sections: classifiers, extraction, backends, end to end, and their report."""
