# Smoke test: Qwen2.5 32B Instruct (Q4_K_M) with llama.cpp on 2xrtx-3090@128
# Run it on the machine that runs the server: pip install openai && python smoke-test.py
from openai import OpenAI

client = OpenAI(base_url='http://127.0.0.1:8080/v1', api_key='sizer')  # the server checks no key
response = client.chat.completions.create(
    model='qwen2.5-32b-instruct',
    messages=[{'role': 'user', 'content': 'Reply with one short sentence: are you running?'}],
    max_tokens=32,
)
print(response.choices[0].message.content)
