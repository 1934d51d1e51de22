# Verbatim copy of the cURL example in the API Mall Sora2 page (create task).
# The test replaces only the host and YOUR_API_KEY.
curl --request POST 'https://gateway.apimall.ai/api/v1/videos/generate' \
  --header 'Authorization: Bearer YOUR_API_KEY' \
  --header 'Content-Type: application/json' \
  --data '{
  "model": "sora2",
  "type": "text-to-video",
  "prompt": "A cinematic drone shot of a futuristic city at sunrise.",
  "aspect_ratio": "landscape",
  "n_frames": "10",
  "remove_watermark": false
}'
