"""From clips to the MP3 file: stitching on a sample-exact Timeline, loudness and true-peak limiting, resampling,
encoding with ffmpeg, the MP3's own header, ID3 tags with chapters, and the transcripts."""
