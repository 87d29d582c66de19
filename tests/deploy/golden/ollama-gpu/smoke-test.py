# Smoke test: Llama 3.1 8B Instruct (Q4_K_M) with ollama on rtx-4090@64
# Run it on the machine that runs the server: pip install openai && python smoke-test.py
from openai import OpenAI

client = OpenAI(base_url='http://127.0.0.1:11434/v1', api_key='sizer')  # the server checks no key
response = client.chat.completions.create(
    model='llama-3.1-8b-instruct-q4_k_m',
    messages=[{'role': 'user', 'content': 'Reply with one short sentence: are you running?'}],
    max_tokens=32,
)
print(response.choices[0].message.content)
