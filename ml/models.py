# The model registry lands with the central ML issue.
