/**
 * A streaming chat screen on @privacy-gateway/client: each answer appears token by token, a Stop button
 * cancels it (the gateway stops generating), and every error kind the SDK reports has its own message.
 */
import { type ChatInput, type ErrorKind, errorKind, GatewayRequestError } from "@privacy-gateway/client";
import { useRef, useState } from "react";
import { Button, FlatList, SafeAreaView, StyleSheet, Text, TextInput, View } from "react-native";
import { gatewayClient } from "./src/gateway";

type Message = { role: "user" | "assistant"; content: string };

const MESSAGES: Record<ErrorKind, string> = {
  network: "No connection to the server. Check your network and try again.",
  key_rotation: "The server is updating its keys. Try again in a minute.",
  pin_mismatch: "This server is not the one this app trusts. Do not continue on this network.",
  rate_limited: "Too many messages. Please wait",
  challenge: "The server is busy verifying devices. Try again shortly.",
  integrity: "The answer was damaged on the way and was discarded.",
  refused: "The server could not accept this message (it may be too long).",
  server: "The server had a problem. Try again later.",
  aborted: "Stopped.",
  auth_mode: "This app version does not match how the server signs in devices. Please update the app.",
};

function describe(error: unknown): string {
  const kind = errorKind(error);
  if (kind === "rate_limited" && error instanceof GatewayRequestError && error.retryAfter) {
    return `${MESSAGES.rate_limited} ${error.retryAfter} s.`;
  }
  return MESSAGES[kind];
}

export default function App() {
  const [messages, setMessages] = useState<Message[]>([]);
  const [draft, setDraft] = useState("");
  const [status, setStatus] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const abort = useRef<AbortController | null>(null);

  async function send() {
    const text = draft.trim();
    if (!text || busy) return;
    const history: Message[] = [...messages, { role: "user", content: text }];
    setMessages([...history, { role: "assistant", content: "" }]);
    setDraft("");
    setStatus(null);
    setBusy(true);
    abort.current = new AbortController();
    try {
      const client = await gatewayClient();
      const input: ChatInput = { messages: history };
      for await (const event of client.chat(input, abort.current.signal)) {
        if (event.type === "text") {
          setMessages((current) => {
            const last = current[current.length - 1];
            return [...current.slice(0, -1), { ...last, content: last.content + event.delta }];
          });
        }
      }
    } catch (error) {
      // An answer that failed its integrity check is removed, never shown as if complete.
      if (errorKind(error) === "integrity") setMessages(history);
      setStatus(describe(error));
    } finally {
      setBusy(false);
      abort.current = null;
    }
  }

  return (
    <SafeAreaView style={styles.screen}>
      <FlatList
        data={messages}
        keyExtractor={(_, index) => String(index)}
        renderItem={({ item }) => (
          <Text style={item.role === "user" ? styles.user : styles.assistant}>{item.content}</Text>
        )}
      />
      {status ? <Text style={styles.status}>{status}</Text> : null}
      <View style={styles.row}>
        <TextInput style={styles.input} value={draft} onChangeText={setDraft} placeholder="Message" />
        {busy
          ? <Button title="Stop" onPress={() => abort.current?.abort()} />
          : <Button title="Send" onPress={send} />}
      </View>
    </SafeAreaView>
  );
}

const styles = StyleSheet.create({
  screen: { flex: 1, padding: 12 },
  user: { alignSelf: "flex-end", margin: 4, padding: 8, backgroundColor: "#def" },
  assistant: { alignSelf: "flex-start", margin: 4, padding: 8, backgroundColor: "#eee" },
  status: { color: "#a00", margin: 4 },
  row: { flexDirection: "row", alignItems: "center", gap: 8 },
  input: { flex: 1, borderWidth: 1, borderColor: "#ccc", padding: 8 },
});
