# Smoke test: Gemma 3 12B IT (Q4_K_M) with ollama on m2-max-38c@64
# Run it on the machine that runs the server: pip install openai && python smoke-test.py
from openai import OpenAI

client = OpenAI(base_url='http://127.0.0.1:11434/v1', api_key='sizer')  # the server checks no key
response = client.chat.completions.create(
    model='gemma-3-12b-it-q4_k_m',
    messages=[{'role': 'user', 'content': 'Reply with one short sentence: are you running?'}],
    max_tokens=32,
)
print(response.choices[0].message.content)
