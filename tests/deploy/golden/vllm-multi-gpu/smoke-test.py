# Smoke test: Llama 3.3 70B Instruct (bf16) with vllm on 4xa100-sxm-80gb
# Run it on the machine that runs the server: pip install openai && python smoke-test.py
from openai import OpenAI

client = OpenAI(base_url='http://127.0.0.1:8000/v1', api_key='sizer')  # the server checks no key
response = client.chat.completions.create(
    model='meta-llama/Llama-3.3-70B-Instruct',
    messages=[{'role': 'user', 'content': 'Reply with one short sentence: are you running?'}],
    max_tokens=32,
)
print(response.choices[0].message.content)
