"""Files in and out: photos, videos (reader and H.264 writer), atomic writes, file listing, native-library quiet."""
